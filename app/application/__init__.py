"""Services that orchestrate the domain; they see the outside world only through ``ports``."""
