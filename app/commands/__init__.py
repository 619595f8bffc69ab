"""The ``facegate`` commands; ``app.cli`` parses the command line and calls them."""
