"""`triaje web`: the review desk in a browser (Starlette, Jinja2, uvicorn).

Every page but /login and /static needs a session; every POST a CSRF token. Pages are
rendered on the server with autoescaping; the only script is our own keyboard helper.
"""
