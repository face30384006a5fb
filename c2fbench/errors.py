"""The one exception type for bad user input.

Library code raises :class:`InputError` where it finds the bad file or value, with the
file or image id and what was expected in the message. The command line turns it into
one line on stderr and exit status 2 (see ``c2fbench.cli.main``).
"""


class InputError(Exception):
    """Bad input from the user: a missing, corrupt or malformed file or option."""
