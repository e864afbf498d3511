"""Identity and accountability: passwords, API keys, signed tokens, secrets, NIST RBAC and the audit log.

Modules: `errors` (401/403/409 conditions), `passwords` (Argon2id), `apikeys` (service-account keys),
`tokens` (Ed25519 JWTs and an optional OIDC issuer), `secrets` (environment, file and Vault providers),
`rbac` (principals, roles, separation of duty in PostgreSQL), `audit` (the hash-chained append-only log),
`admin` (every administrative change together with its audit entry, for the CLI and the gateway).
"""
