# A security group starts with no rules; each allowed flow is one rule resource with its own description,
# so a review of the plan shows exactly which port opened to whom.

resource "aws_security_group" "this" {
  #checkov:skip=CKV2_AWS_5:The group is attached by the caller (RDS instance, ElastiCache group) outside this module.
  name        = var.name
  description = var.description
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = var.name })

  # Replacing a group in use would fail while it is still attached; create the new one first.
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "this" {
  for_each = { for i, r in var.ingress : tostring(i) => r }

  security_group_id            = aws_security_group.this.id
  description                  = each.value.description
  ip_protocol                  = each.value.protocol
  from_port                    = each.value.from_port
  to_port                      = coalesce(each.value.to_port, each.value.from_port)
  referenced_security_group_id = each.value.source_security_group_id
  cidr_ipv4                    = each.value.cidr_ipv4
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "this" {
  for_each = { for i, r in var.egress : tostring(i) => r }

  security_group_id            = aws_security_group.this.id
  description                  = each.value.description
  ip_protocol                  = each.value.protocol
  from_port                    = each.value.from_port
  to_port                      = coalesce(each.value.to_port, each.value.from_port)
  referenced_security_group_id = each.value.destination_security_group_id
  cidr_ipv4                    = each.value.cidr_ipv4
  tags                         = var.tags
}
