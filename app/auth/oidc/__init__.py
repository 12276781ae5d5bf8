"""OpenID Connect sign-in: the Authlib client with its checks, and the start and callback views."""
