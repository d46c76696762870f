import sys

from vec2vec.cli import main

sys.exit(main())
