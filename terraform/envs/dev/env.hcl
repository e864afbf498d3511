# Inputs shared by every dev stack. Staging runs in the dev cluster, in its own namespace.
locals {
  environment = "dev"
  domain      = "dev.aiprime.example.com"
  namespaces  = ["aiprime-dev", "aiprime-staging"]
}
