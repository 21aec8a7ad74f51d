"""Service types (a tree per organisation) and the skill and certificate-type catalogues."""
