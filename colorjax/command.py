"""The prologue every colorjax command shares: `python -m colorjax.X` and the
`colorjax-X` scripts all end in `command.run(__name__, main, define_flags)`.

It defines the command's flags, lets absl parse them, refuses unexpected
arguments, keeps the libraries' INFO chatter (orbax) off the console, turns
the errors a user can fix into one sentence on stderr with exit status 1,
and exits with main's status (0 or None: success).
"""

import sys

from absl import app
from absl import flags
from absl import logging

from colorjax import errors

# What a user can fix: a bad flag, config value, file or photo. Every such
# message is written to name the problem and the fix.
USER_ERRORS = (ValueError, FileNotFoundError, errors.TrainingDiverged)


def _hide_orbax_info(record) -> bool:
  return record.levelno > logging.converter.STANDARD_INFO or 'orbax' not in record.pathname


def quiet_library_logs() -> None:
  """Keeps orbax's INFO lines (several per save and load) off the console."""
  logging.get_absl_logger().addFilter(_hide_orbax_info)


def run(module: str, main, define_flags=None, *, positional: bool = False,
        user_errors: tuple = USER_ERRORS):
  """Defines the flags, parses them, runs main and exits with its status.

  Args:
    module: the calling module's __name__; a console script runs the module
      by import, and absl's --help lists the main file's flags only, so its
      flags are also registered for the script.
    main: main(argv, args) -> int | None, or main(argv) without define_flags.
    define_flags: () -> the flag holders main reads, defined on call.
    positional: whether the command takes arguments besides flags (argv[1:]).
    user_errors: exceptions printed as 'error: <message>' with exit status 1;
      anything else is a bug and keeps its traceback.
  """
  args = define_flags() if define_flags else None
  if module != '__main__':
    for flag in flags.FLAGS.get_key_flags_for_module(module):
      flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)

  def body(argv):
    if len(argv) > 1 and not positional:
      raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
    quiet_library_logs()
    try:
      status = main(argv, args) if define_flags else main(argv)
    except user_errors as e:
      print(f'error: {e}', file=sys.stderr)
      sys.exit(1)
    sys.exit(status)
  app.run(body)
