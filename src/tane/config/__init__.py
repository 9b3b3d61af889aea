"""Recipe sections, one module per method where the method owns its fields."""
