variable "environment" {
  description = "Environment name; part of every resource name."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be dev or prod (staging shares the dev cluster)."
  }
}

variable "region" {
  description = "AWS region of this stack."
  type        = string
}

variable "domain" {
  description = "DNS domain of the environment, for example `aiprime.example.com`."
  type        = string
}

variable "namespaces" {
  description = "Kubernetes namespaces whose service accounts may assume this stack's IRSA roles (one per kustomize overlay deployed here)."
  type        = list(string)
}

variable "vpc_cidr" {
  description = "CIDR of the VPC; subnets are carved from it (/24 public and database, /20 private for pod IPs)."
  type        = string
  default     = "10.40.0.0/16"
}

variable "azs" {
  description = "Availability zones to use."
  type        = list(string)
  default     = ["us-east-1a", "us-east-1b", "us-east-1c"]
}

variable "cpu_nodes" {
  description = "Size of the CPU node group (gateway, Dagster, MLflow, Feast, experts, retriever)."
  type = object({
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
  })
  default = { instance_types = ["m7i.2xlarge"], min_size = 3, max_size = 12, desired_size = 3 }
}

variable "gpu_nodes" {
  description = "Size of the GPU node group (generator). At least one node stays up so that a generator replica survives a node loss without a cold start."
  type = object({
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
  })
  default = { instance_types = ["g6.2xlarge"], min_size = 1, max_size = 6, desired_size = 2 }
}

variable "admin_role_arns" {
  description = "IAM roles with cluster-admin (the CI deploy role, the on-call role)."
  type        = list(string)
  default     = []
}

variable "api_public_access_cidrs" {
  description = "CIDRs that may reach the Kubernetes API from the internet; empty keeps it private."
  type        = list(string)
  default     = []
}

variable "dns_zone_id" {
  description = "Route 53 hosted zone of `domain`."
  type        = string
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

variable "tags" {
  description = "Tags for every resource (set by terraform/terragrunt.hcl)."
  type        = map(string)
  default     = {}
}

variable "secondary_region" {
  description = "Region of the secondary stack that receives the database replica and the bucket replicas."
  type        = string
  default     = "eu-west-1"
}

variable "secondary" {
  description = "Outputs of the secondary region's stack (Terragrunt `dependency`): where the database replica and the bucket replicas go."
  type = object({
    data_kms_key_arn      = string
    db_subnet_group_name  = string
    rds_security_group_id = string
    artifacts_bucket_arn  = string
    dvc_bucket_arn        = string
  })
}
