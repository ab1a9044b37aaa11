"""The Amazon States Language: definitions, paths, intrinsics, JSONata, Choice rules."""
