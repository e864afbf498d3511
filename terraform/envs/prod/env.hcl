# Inputs shared by both prod regions: us-east-1 is the primary (writable PostgreSQL), eu-west-1 the secondary
# (read replica, replicated buckets, its own cluster serving inference).
locals {
  environment = "prod"
  domain      = "aiprime.example.com"
  namespaces  = ["aiprime"]
}
