"""Pure call-record handling: provider adapters and the call event they produce."""
