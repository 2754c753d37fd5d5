"""The scikit-learn classifier: query type, priority and team queue, with confidence."""
