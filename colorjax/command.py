"""Runs a colorjax command: `python -m colorjax.X` and the `colorjax-X` scripts.

Every entry point ends in `command.run(__name__, main, define_flags)`: its
flags are defined, absl parses them, and `main(argv, args)`'s return value
is the exit status (0 or None: success).
"""

import sys


def run(module: str, main, define_flags=None):
  """Defines the flags, parses them and exits with main's status.

  Args:
    module: the calling module's __name__; a console script runs the module
      by import, and absl's --help lists the main file's flags only, so its
      flags are also registered for the script.
    main: main(argv, args) -> int | None, or main(argv) without define_flags.
    define_flags: () -> the flag holders main reads, defined on call.
  """
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  args = define_flags() if define_flags else None
  if module != '__main__':
    for flag in flags.FLAGS.get_key_flags_for_module(module):
      flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
  app.run(lambda argv: sys.exit(main(argv, args) if define_flags else main(argv)))
