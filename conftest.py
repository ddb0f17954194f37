"""The kit's own tests drive pytest in pytest (pytester): a plugin only a root conftest may load."""

pytest_plugins = ["pytester"]
