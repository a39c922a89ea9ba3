"""``python -m eegfm_sklearn.cli``: the ``eegfm`` command without the installed script."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
