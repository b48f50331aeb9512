"""`python -m exai_git` runs the command line."""

from exai_git.cli import main

if __name__ == "__main__":
    main()
