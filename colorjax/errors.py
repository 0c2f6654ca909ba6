"""The errors colorjax reports to its user: each message names the problem
and the fix, and the commands print it as one sentence with a non-zero exit."""


class ConfigError(ValueError):
  """A config value that cannot work; the message names it and the fix."""


class DataError(ValueError):
  """A problem with the data that the user can fix; the message says how."""


class TrainingDiverged(FloatingPointError):
  """The loss became NaN or infinite."""


class Stopped(RuntimeError):
  """Training stopped on request (SIGTERM) after saving a checkpoint to resume from."""


class CheckpointError(RuntimeError):
  """A checkpoint could not be written or none could be read back; the
  message names the directory and what to do."""


class WorkdirBusy(RuntimeError):
  """Another training process holds the run directory's lock."""
