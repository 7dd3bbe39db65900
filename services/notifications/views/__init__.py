"""HTTP views of the notifications service: thin edges that validate, call a function, answer."""
