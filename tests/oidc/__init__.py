"""OpenID Connect test infrastructure: a real provider (oidc-provider) and a forging one."""
