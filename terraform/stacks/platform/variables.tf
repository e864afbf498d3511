variable "environment" {
  description = "Environment name; part of every resource name."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be dev or prod (staging shares the dev cluster)."
  }
}

variable "region" {
  description = "AWS region of this stack, for example `us-east-1`."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must be an AWS region name such as us-east-1."
  }
}

variable "region_role" {
  description = "What this region holds: `standalone` (the writable database, nothing replicated), `primary` (the writable database, replicated into `secondary`) or `secondary` (no database of its own; it receives the primary's replicas)."
  type        = string

  validation {
    condition     = contains(["standalone", "primary", "secondary"], var.region_role)
    error_message = "region_role must be standalone, primary or secondary."
  }
}

variable "domain" {
  description = "DNS domain of the environment, for example `dev.aiprime.example.com` or `aiprime.example.com`."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.domain))
    error_message = "domain must be a lower-case DNS name such as dev.aiprime.example.com, without a trailing dot."
  }
}

variable "dns_zone_id" {
  description = "Route 53 hosted zone of `domain`."
  type        = string

  validation {
    condition     = can(regex("^Z[A-Z0-9]+$", var.dns_zone_id))
    error_message = "dns_zone_id must be a Route 53 hosted zone ID such as Z0123456789ABCDEFGHIJ (`aws route53 list-hosted-zones`)."
  }
}

variable "namespaces" {
  description = "Kubernetes namespaces whose service accounts may assume this stack's IRSA roles (one per kustomize overlay deployed here)."
  type        = list(string)

  validation {
    condition     = length(var.namespaces) > 0 && alltrue([for ns in var.namespaces : can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", ns))])
    error_message = "namespaces must list at least one Kubernetes namespace name (lower-case letters, digits and '-', at most 63 characters)."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the VPC, a /16 unique to each region; subnets are carved from it (/24 public and database, /20 private for pod IPs)."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && endswith(var.vpc_cidr, "/16")
    error_message = "vpc_cidr must be an IPv4 /16 such as 10.20.0.0/16: the subnets are carved from it as /24s and /20s."
  }
}

variable "azs" {
  description = "Availability zones to use. Null: the region's zones a, b and c."
  type        = list(string)
  default     = null

  # Up to four zones: public /24s take indexes 0-3 and database /24s 4-7 of the first /20, private /20s 1-4.
  validation {
    condition     = var.azs == null || (try(length(var.azs), 0) >= 2 && try(length(var.azs), 0) <= 4 && alltrue([for az in coalesce(var.azs, []) : startswith(az, var.region)]))
    error_message = "azs must list 2 to 4 availability zones of `region` (for example us-east-1a), or be null for a, b and c."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for the whole VPC (cheaper) instead of one per zone (a zone outage does not cut egress)."
  type        = bool
}

variable "cpu_nodes" {
  description = "Size of the CPU node group (gateway, Dagster, MLflow, Feast, experts, retriever). SPOT capacity suits environments that tolerate interruptions."
  type = object({
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
    capacity_type  = optional(string, "ON_DEMAND")
  })

  validation {
    condition     = var.cpu_nodes.min_size <= var.cpu_nodes.desired_size && var.cpu_nodes.desired_size <= var.cpu_nodes.max_size && var.cpu_nodes.max_size > 0
    error_message = "cpu_nodes needs min_size <= desired_size <= max_size and max_size above 0: the platform's workloads run there."
  }

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.cpu_nodes.capacity_type)
    error_message = "cpu_nodes.capacity_type must be ON_DEMAND or SPOT."
  }
}

variable "gpu_nodes" {
  description = "Size of the GPU node group (generator). min_size 0 lets the autoscaler remove it when idle; 1 or more keeps a generator replica warm across a node loss."
  type = object({
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
  })

  validation {
    condition     = var.gpu_nodes.min_size <= var.gpu_nodes.desired_size && var.gpu_nodes.desired_size <= var.gpu_nodes.max_size
    error_message = "gpu_nodes needs min_size <= desired_size <= max_size."
  }
}

variable "database" {
  description = "The writable PostgreSQL (RDS). Unused in a `secondary` region, which holds only the primary's replica."
  type = object({
    instance_class        = string
    allocated_storage_gib = number
    multi_az              = bool
    backup_retention_days = number
  })

  validation {
    condition     = startswith(var.database.instance_class, "db.") && var.database.allocated_storage_gib >= 20
    error_message = "database.instance_class must be an RDS class such as db.t4g.large, and allocated_storage_gib at least 20 (the RDS minimum for gp3)."
  }

  validation {
    condition     = var.database.backup_retention_days >= 1 && var.database.backup_retention_days <= 35
    error_message = "database.backup_retention_days must be 1 to 35: 0 would turn off point-in-time recovery, and RDS keeps at most 35."
  }
}

variable "cache" {
  description = "Redis (ElastiCache) for Feast's online store: node type and number of nodes (2 or more for a failover replica)."
  type = object({
    node_type          = string
    num_cache_clusters = number
  })

  validation {
    condition     = startswith(var.cache.node_type, "cache.") && var.cache.num_cache_clusters >= 1
    error_message = "cache.node_type must be an ElastiCache node type such as cache.t4g.medium, and num_cache_clusters at least 1."
  }
}

variable "admin_role_arns" {
  description = "IAM roles with cluster-admin (the CI deploy role, the on-call role)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.admin_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", arn))])
    error_message = "admin_role_arns must be IAM role ARNs (arn:aws:iam::<account>:role/<name>)."
  }
}

variable "api_public_access_cidrs" {
  description = "CIDRs that may reach the Kubernetes API from the internet; empty keeps it private."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.api_public_access_cidrs : can(cidrhost(cidr, 0)) && cidr != "0.0.0.0/0"])
    error_message = "api_public_access_cidrs must be CIDRs, and not 0.0.0.0/0: leave it empty to keep the API private."
  }
}

variable "gateway_load_balancer" {
  description = "The gateway ALB created by the AWS Load Balancer Controller, known after the first deploy (`kubectl get ingress gateway`). Null: no DNS records yet."
  type = object({
    dns_name = string
    zone_id  = string
  })
  default = null
}

variable "dns_failover_role" {
  description = "This region's role for the failover-routed `ops.` name: PRIMARY where the writable database is. Swapped during a region failover (docs/runbook.md)."
  type        = string
  default     = "PRIMARY"

  validation {
    condition     = contains(["PRIMARY", "SECONDARY"], var.dns_failover_role)
    error_message = "dns_failover_role must be PRIMARY or SECONDARY."
  }
}

variable "secondary" {
  description = "Outputs of the secondary region's stack (Terragrunt `dependency`): where a primary puts its database replica and bucket replicas. Set exactly when region_role is primary."
  type = object({
    region                = string
    data_kms_key_arn      = string
    db_subnet_group_name  = string
    rds_security_group_id = string
    artifacts_bucket_arn  = string
    dvc_bucket_arn        = string
  })
  default = null

  validation {
    condition     = (var.secondary != null) == (var.region_role == "primary")
    error_message = "secondary must be set exactly when region_role is primary: pass the secondary stack's outputs through a Terragrunt dependency (see terraform/envs/prod/us-east-1/terragrunt.hcl)."
  }

  validation {
    condition     = try(var.secondary.region != var.region, true)
    error_message = "secondary.region must differ from region: the replicas are for a region outage."
  }
}

variable "audit_heads_retention_days" {
  description = "Days S3 Object Lock (compliance mode) keeps each published audit head: no one can delete one sooner, so choose it longer than the audit log must be provable (a year of audits and then some)."
  type        = number
  default     = 400

  validation {
    condition     = var.audit_heads_retention_days >= 1 && var.audit_heads_retention_days <= 3650 && floor(var.audit_heads_retention_days) == var.audit_heads_retention_days
    error_message = "audit_heads_retention_days must be a whole number of days from 1 to 3650: compliance-mode retention cannot be shortened after a head is written."
  }
}

variable "tags" {
  description = "Tags for every resource (set by terraform/terragrunt.hcl)."
  type        = map(string)
  default     = {}
}
