"""Feed adapters: each turns one exchange's wire into raw messages plus a decoder."""
