"""The association's members: the member list and its contact people (services and
queries); sign-in, members-only events and private feeds build on it."""
