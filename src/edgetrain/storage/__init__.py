"""Everything about Azure Stack Hub blob storage (and its loopback stand-in)."""
