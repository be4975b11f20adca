import sys

from vae_core.core.cli import main

sys.exit(main())
