from flask import Flask

app = Flask(__name__)
VERSION = "1"


@app.route("/")
def index():
    return f"python-requirements sample v{VERSION}\n"
