# Inputs shared by both prod regions (terraform/stacks/platform): us-east-1 is the primary (writable
# PostgreSQL), eu-west-1 the secondary (read replica, replicated buckets, its own cluster serving inference).
# Each region is sized to carry the whole load alone during a failover.
locals {
  environment = "prod"
  domain      = "aiprime.example.com"
  dns_zone_id = "Z0000000000000000PRD" # replace with the hosted zone of aiprime.example.com
  namespaces  = ["aiprime"]

  single_nat_gateway = false # one NAT per zone: a zone outage must not cut egress
  cpu_nodes          = { instance_types = ["m7i.2xlarge"], min_size = 3, max_size = 12, desired_size = 3 }
  # At least one GPU node stays up so that a generator replica survives a node loss without a cold start.
  gpu_nodes = { instance_types = ["g6.2xlarge"], min_size = 1, max_size = 6, desired_size = 2 }
  database  = { instance_class = "db.r7g.xlarge", allocated_storage_gib = 200, multi_az = true, backup_retention_days = 35 }
  cache     = { node_type = "cache.r7g.large", num_cache_clusters = 2 }
}
