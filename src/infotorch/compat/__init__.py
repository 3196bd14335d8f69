"""Drop-in modules with another package's names, signatures and numbers."""
