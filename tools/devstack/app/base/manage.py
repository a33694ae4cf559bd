#!/usr/bin/env python
# quizsite's manage.py: a failing command's traceback also lands in the error log, where
# operators (and jsonmend's verify role) look for it, not only on the terminal.
import logging
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quizsite.settings")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except Exception:
        logging.getLogger("quizsite.commands").exception("manage.py %s failed", " ".join(sys.argv[1:]))
        raise


if __name__ == "__main__":
    main()
