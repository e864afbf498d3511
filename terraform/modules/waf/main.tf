locals {
  # Put on the gateway's media upload routes (var.media_upload_paths) by the `media-upload-*` rules; the body
  # rules below exempt requests that carry it. A label of this web ACL, so the short name matches.
  media_upload_label = "aiprime:media-upload"

  # The common rule set's rules that inspect the body, by the label each adds when it matches, as AWS lists them:
  # https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-baseline.html
  # SizeRestrictions_BODY is left out: our own `max-body-size` rule replaces it.
  common_rule_set_body_rules = {
    CrossSiteScripting_BODY = "awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body"
    EC2MetaDataSSRF_BODY    = "awswaf:managed:aws:core-rule-set:EC2MetaDataSSRF_Body"
    GenericLFI_BODY         = "awswaf:managed:aws:core-rule-set:GenericLFI_Body"
    GenericRFI_BODY         = "awswaf:managed:aws:core-rule-set:GenericRFI_Body"
  }
}

resource "aws_wafv2_web_acl" "this" {
  name        = var.name
  description = "Protects the AI Prime gateway load balancer"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  # Labels (and counts) the requests to the media upload routes, declared once here; the body rules exempt
  # them by this label. The path must equal one exactly, as sent (no decoding): anything else keeps every rule.
  dynamic "rule" {
    for_each = var.media_upload_paths

    content {
      name     = "media-upload-${rule.key}"
      priority = 1 + rule.key

      action {
        count {}
      }

      rule_label {
        name = local.media_upload_label
      }

      statement {
        byte_match_statement {
          positional_constraint = "EXACTLY"
          search_string         = rule.value

          field_to_match {
            uri_path {}
          }

          text_transformation {
            priority = 0
            type     = "NONE"
          }
        }
      }

      visibility_config {
        cloudwatch_metrics_enabled = true
        metric_name                = "${var.name}-media-upload-${rule.key}"
        sampled_requests_enabled   = true
      }
    }
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 10

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit              = var.rate_limit_per_5min
        aggregate_key_type = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  # AWS managed rule groups: https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-list.html
  # Sources AWS threat intelligence flags (bots, reconnaissance).
  rule {
    name     = "AWSManagedRulesAmazonIpReputationList"
    priority = 20

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesAmazonIpReputationList"
        vendor_name = "AWS"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-AWSManagedRulesAmazonIpReputationList"
      sampled_requests_enabled   = true
    }
  }

  # Known exploit payloads, Log4Shell (CVE-2021-44228) included.
  rule {
    name     = "AWSManagedRulesKnownBadInputsRuleSet"
    priority = 30

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
        vendor_name = "AWS"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-AWSManagedRulesKnownBadInputsRuleSet"
      sampled_requests_enabled   = true
    }
  }

  # OWASP-style generic protections.
  rule {
    name     = "AWSManagedRulesCommonRuleSet"
    priority = 40

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesCommonRuleSet"
        vendor_name = "AWS"

        # The common rule set blocks bodies over 8 KiB; chat and RAG requests are larger. Count here and
        # enforce our own limit in the `max-body-size` rule.
        rule_action_override {
          name = "SizeRestrictions_BODY"
          action_to_use {
            count {}
          }
        }

        # The body rules would read an image's or a clip's bytes as text (XSS, path traversal); a rule can
        # only be overridden for every path, so they count here and `common-rule-set-body` blocks their
        # matches everywhere but the media uploads. Every other rule of the set (headers, URI path, query
        # string, cookies) still blocks on every path, the media uploads included.
        dynamic "rule_action_override" {
          for_each = local.common_rule_set_body_rules

          content {
            name = rule_action_override.key
            action_to_use {
              count {}
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-AWSManagedRulesCommonRuleSet"
      sampled_requests_enabled   = true
    }
  }

  # The common rule set's body rules, as the set would apply them, except on the media uploads. One label
  # rule after the set instead of a second copy of it scoped down to the other paths (700 more WCUs).
  rule {
    name     = "common-rule-set-body"
    priority = 45

    action {
      block {}
    }

    statement {
      and_statement {
        statement {
          or_statement {
            dynamic "statement" {
              for_each = local.common_rule_set_body_rules

              content {
                label_match_statement {
                  scope = "LABEL"
                  key   = statement.value
                }
              }
            }
          }
        }

        statement {
          not_statement {
            statement {
              label_match_statement {
                scope = "LABEL"
                key   = local.media_upload_label
              }
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-common-rule-set-body"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "max-body-size"
    priority = 50

    action {
      block {}
    }

    # Caps every body except the media uploads'. Those need no cap here: the gateway bounds every body itself
    # (AIPRIME_GATEWAY_MAX_BODY_BYTES, 413) and the media routes parse theirs strictly. Behind an ALB, WAF
    # sees at most a body's first 8 KiB, so it could not check their size anyway.
    statement {
      and_statement {
        statement {
          size_constraint_statement {
            comparison_operator = "GT"
            size                = var.max_body_kib * 1024

            field_to_match {
              body {
                oversize_handling = "MATCH" # a body too big to inspect is too big to accept
              }
            }

            text_transformation {
              priority = 0
              type     = "NONE"
            }
          }
        }

        statement {
          not_statement {
            statement {
              label_match_statement {
                scope = "LABEL"
                key   = local.media_upload_label
              }
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-max-body-size"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = var.name
    sampled_requests_enabled   = true
  }

  tags = var.tags
}

# WAF only logs to log groups whose name starts with `aws-waf-logs-`.
resource "aws_cloudwatch_log_group" "this" {
  name              = "aws-waf-logs-${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
  tags              = var.tags
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  resource_arn            = aws_wafv2_web_acl.this.arn
  log_destination_configs = [aws_cloudwatch_log_group.this.arn]

  # Callers authenticate with bearer tokens; keep them out of the logs.
  redacted_fields {
    single_header {
      name = "authorization"
    }
  }
}

resource "aws_wafv2_web_acl_association" "this" {
  for_each = toset(var.associated_resource_arns)

  resource_arn = each.value
  web_acl_arn  = aws_wafv2_web_acl.this.arn
}
