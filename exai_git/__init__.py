"""exai-git: commit-message markers, a scanner and hooks that keep the EXAI issue tracker
in step with git."""

__version__ = "0.1.0"
