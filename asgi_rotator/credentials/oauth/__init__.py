"""OAuth credential files: their shapes, atomic write-back, and encrypted sharing between replicas."""
