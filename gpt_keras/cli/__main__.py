"""`python -m gpt_keras.cli`: the `gpt-keras` command line."""
import sys

from gpt_keras.cli import main

sys.exit(main())
