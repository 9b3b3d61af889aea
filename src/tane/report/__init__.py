"""Dataset reports: ``tane stats``."""
