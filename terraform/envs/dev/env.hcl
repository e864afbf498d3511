# Inputs shared by every dev stack (terraform/stacks/platform). Staging runs in the dev cluster, in its own
# namespace. Dev is small and cheap where it is safe to be: one NAT, spot CPU nodes, a GPU pool that scales
# to zero, a single-AZ database, one cache node.
locals {
  environment = "dev"
  domain      = "dev.aiprime.example.com"
  dns_zone_id = "Z0000000000000000DEV" # replace with the hosted zone of dev.aiprime.example.com
  namespaces  = ["aiprime-dev", "aiprime-staging"]

  single_nat_gateway = true
  cpu_nodes          = { instance_types = ["m7i.xlarge"], min_size = 2, max_size = 4, desired_size = 2, capacity_type = "SPOT" }
  gpu_nodes          = { instance_types = ["g6.xlarge"], min_size = 0, max_size = 1, desired_size = 0 }
  database           = { instance_class = "db.t4g.large", allocated_storage_gib = 50, multi_az = false, backup_retention_days = 7 }
  cache              = { node_type = "cache.t4g.medium", num_cache_clusters = 1 }
}
