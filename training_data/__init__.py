"""The bilingual seed training set, installed as pipeline.training_data."""
