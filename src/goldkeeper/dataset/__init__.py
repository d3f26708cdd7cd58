"""dataset."""

#: the side of a diff or ``show`` that means "the store in the working tree", not a git revision
WORKTREE = "WORKTREE"
