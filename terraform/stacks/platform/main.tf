# One AI Prime region: network, EKS, PostgreSQL, Redis, buckets, IRSA roles, WAF and DNS. Every environment
# and region is this stack with other inputs (terraform/envs/<env>/<region>/terragrunt.hcl), so dev runs the
# same modules and security settings as prod and finds prod's problems; only sizes and the region's role
# differ. The role (var.region_role) decides where PostgreSQL lives:
#   standalone  the writable database, nothing replicated (dev)
#   primary     the writable database, with a read replica and bucket replicas in the secondary region,
#               whose outputs arrive in var.secondary through a Terragrunt dependency (applied first)
#   secondary   no database of its own: it receives the primary's replica and bucket replicas, and serves
#               inference from them

data "aws_caller_identity" "current" {}

locals {
  name       = "aiprime-${var.environment}-${var.region}"
  account_id = data.aws_caller_identity.current.account_id
  azs        = coalesce(var.azs, formatlist("${var.region}%s", ["a", "b", "c"]))
  # The secondary's database is the primary's replica, created by the primary stack in this VPC.
  owns_database = var.region_role != "secondary"
  # EC2 Auto Scaling launches the nodes' encrypted volumes with this service-linked role.
  autoscaling_role_arn = "arn:aws:iam::${local.account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"

  kms_keys = {
    data = { description = "RDS, ElastiCache, S3 and Secrets Manager of ${local.name}", logs = false, user_role_arns = [] }
    eks  = { description = "Kubernetes Secrets and node volumes of ${local.name}", logs = false, user_role_arns = [local.autoscaling_role_arn] }
    logs = { description = "CloudWatch log groups of ${local.name}", logs = true, user_role_arns = [] }
  }
}

module "kms" {
  source   = "../../modules/kms"
  for_each = local.kms_keys

  alias                 = "${local.name}-${each.key}"
  description           = each.value.description
  allow_cloudwatch_logs = each.value.logs
  user_role_arns        = each.value.user_role_arns
}

module "vpc" {
  source = "../../modules/vpc"

  name               = local.name
  cidr               = var.vpc_cidr
  azs                = local.azs
  public_subnets     = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, i)]
  database_subnets   = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, i + 4)]
  private_subnets    = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 4, i + 1)]
  single_nat_gateway = var.single_nat_gateway
  flow_logs          = { kms_key_arn = module.kms["logs"].key_arn }
}

module "eks" {
  source = "../../modules/eks"

  name                = local.name
  vpc_id              = module.vpc.vpc_id
  subnet_ids          = module.vpc.private_subnet_ids
  public_access_cidrs = var.api_public_access_cidrs
  secrets_kms_key_arn = module.kms["eks"].key_arn
  logs_kms_key_arn    = module.kms["logs"].key_arn
  admin_role_arns     = var.admin_role_arns

  node_groups = {
    cpu = var.cpu_nodes
    gpu = merge(var.gpu_nodes, {
      ami_type = "AL2023_x86_64_NVIDIA"
      taints   = [{ key = "nvidia.com/gpu", value = "true", effect = "NO_SCHEDULE" }]
    })
  }
}

# In a secondary region, for the database replica that the primary stack creates in this VPC.
module "sg_rds" {
  source = "../../modules/security-groups"

  name        = "${local.name}-rds"
  description = "PostgreSQL: 5432 from the EKS cluster only"
  vpc_id      = module.vpc.vpc_id
  ingress = [{
    description              = "PostgreSQL from EKS nodes and pods"
    from_port                = 5432
    source_security_group_id = module.eks.cluster_security_group_id
  }]
}

module "sg_redis" {
  source = "../../modules/security-groups"

  name        = "${local.name}-redis"
  description = "Redis: 6379 from the EKS cluster only"
  vpc_id      = module.vpc.vpc_id
  ingress = [{
    description              = "Redis (TLS) from EKS nodes and pods"
    from_port                = 6379
    source_security_group_id = module.eks.cluster_security_group_id
  }]
}

module "rds" {
  source    = "../../modules/rds"
  count     = local.owns_database ? 1 : 0
  providers = { aws = aws, aws.replica = aws.secondary }

  identifier             = local.name
  instance_class         = var.database.instance_class
  allocated_storage_gib  = var.database.allocated_storage_gib
  multi_az               = var.database.multi_az
  backup_retention_days  = var.database.backup_retention_days
  db_subnet_group_name   = module.vpc.db_subnet_group_name
  vpc_security_group_ids = [module.sg_rds.security_group_id]
  kms_key_arn            = module.kms["data"].key_arn
  logs_kms_key_arn       = module.kms["logs"].key_arn

  replica = var.secondary == null ? null : {
    kms_key_arn            = var.secondary.data_kms_key_arn
    db_subnet_group_name   = var.secondary.db_subnet_group_name
    vpc_security_group_ids = [var.secondary.rds_security_group_id]
  }
}

# The database was `module.rds` when each region had its own copy of this stack; keep its state.
moved {
  from = module.rds
  to   = module.rds[0]
}

module "elasticache" {
  source = "../../modules/elasticache"

  name               = local.name
  node_type          = var.cache.node_type
  num_cache_clusters = var.cache.num_cache_clusters
  subnet_group_name  = module.vpc.elasticache_subnet_group_name
  security_group_ids = [module.sg_redis.security_group_id]
  kms_key_arn        = module.kms["data"].key_arn
  logs_kms_key_arn   = module.kms["logs"].key_arn
}

module "s3_access_logs" {
  source = "../../modules/s3"

  bucket  = "${local.name}-access-logs-${local.account_id}"
  purpose = "access-logs"
}

# In a secondary region these are the destinations of the primary's replication; after a failover they are
# that region's live buckets.
module "s3" {
  source   = "../../modules/s3"
  for_each = toset(["artifacts", "dvc"])

  bucket            = "${local.name}-${each.key}-${local.account_id}"
  purpose           = each.key
  kms_key_arn       = module.kms["data"].key_arn
  access_log_bucket = module.s3_access_logs.bucket_id

  replication = var.secondary == null ? null : {
    destination_bucket_arn  = var.secondary["${each.key}_bucket_arn"]
    destination_kms_key_arn = var.secondary.data_kms_key_arn
  }
}

# The audit chain's heads (aiprime.security.auditheads): the gateway writes one object per head, which Object
# Lock keeps for var.audit_heads_retention_days even from this account's admins, so a rewritten audit log in
# PostgreSQL cannot be made to match them. Not replicated: each region's gateways publish their own.
module "s3_audit_heads" {
  source = "../../modules/s3"

  bucket            = "${local.name}-audit-heads-${local.account_id}"
  purpose           = "audit-heads"
  kms_key_arn       = module.kms["data"].key_arn
  access_log_bucket = module.s3_access_logs.bucket_id
  object_lock       = { mode = "COMPLIANCE", days = var.audit_heads_retention_days }
}

module "irsa" {
  source   = "../../modules/iam-irsa"
  for_each = local.irsa_roles

  name              = "${local.name}-${each.key}"
  oidc_provider_arn = module.eks.oidc_provider_arn
  service_accounts  = [for ns in var.namespaces : "${ns}:${each.key}"]
  policy_statements = each.value
}

module "waf" {
  source = "../../modules/waf"

  name             = "${local.name}-gateway"
  logs_kms_key_arn = module.kms["logs"].key_arn
}

module "route53" {
  source = "../../modules/route53"
  count  = var.gateway_load_balancer == null ? 0 : 1

  zone_id       = var.dns_zone_id
  region        = var.region
  record_name   = "api.${var.domain}"
  load_balancer = var.gateway_load_balancer
  failover      = { record_name = "ops.${var.domain}", role = var.dns_failover_role }
}
