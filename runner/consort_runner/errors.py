"""The ways a run ends early, each with the code the server and the people reading it act on."""


class RunnerError(Exception):
    """A failure reported as the run's failure text: a code, what went wrong and how to fix it.

    Messages carry names (fields, columns, views, secrets), never secret values or row data.
    """

    def __init__(self, code, message, field=None, fix=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.fix = fix

    def __str__(self):
        text = f"{self.code}: "
        if self.field:
            text += f"{self.field}: "
        text += self.message
        if self.fix:
            text += f"; {self.fix}"
        return text


def config_error(field, problem, fix):
    """The job config is not what the protocol says (the server made it, so it is a bug there)."""
    return RunnerError("invalid_config", problem, field=field, fix=fix)


class ServerRefused(RunnerError):
    """The consort server answered a runner call with an error."""

    def __init__(self, status, code, message, param=None):
        super().__init__(code, f"the server refused ({status}): {message}", field=param)
        self.status = status


class ConsentRefused(Exception):
    """The run must stop: consent was withdrawn or the run is no longer live. Not a failure."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code
