# floe on AWS: a Kinesis stream drained by floe workers on ECS/Fargate into bronze objects on S3
# and Iceberg tables (warehouse bucket) registered in the Glue Data Catalog, with shard leases
# in DynamoDB. One KMS key encrypts everything the module creates.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name
  partition = data.aws_partition.current.partition
  # Glue database names may not contain dashes.
  glue_database = replace(var.name, "-", "_")
  tags          = merge({ "app" = "floe", "floe:deployment" = var.name }, var.tags)
}

resource "aws_kms_key" "floe" {
  description             = "floe ${var.name}: Kinesis, S3, DynamoDB and logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = local.tags
}

resource "aws_kms_alias" "floe" {
  name          = "alias/${var.name}-floe"
  target_key_id = aws_kms_key.floe.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource means this key only; the account root must administer its keys.
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource means this key only.
  #checkov:skip=CKV_AWS_109:Key administration by the account root is the AWS-recommended default key policy.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy "*" means this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }
  statement {
    sid       = "CloudWatchLogsUse"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"] # in a key policy "*" means this key
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/ecs/${var.name}-floe"]
    }
  }
}

resource "aws_kinesis_stream" "events" {
  name             = "${var.name}-events"
  shard_count      = var.stream_mode == "PROVISIONED" ? var.shard_count : null
  retention_period = var.stream_retention_hours
  encryption_type  = "KMS"
  kms_key_id       = aws_kms_key.floe.arn
  stream_mode_details {
    stream_mode = var.stream_mode
  }
  tags = local.tags
}

resource "aws_glue_catalog_database" "floe" {
  name         = local.glue_database
  description  = "Iceberg tables loaded by floe (${var.name})"
  location_uri = "s3://${module.warehouse_bucket.bucket}/warehouse"
  tags         = local.tags
}

resource "aws_dynamodb_table" "leases" {
  name         = "${var.name}-floe-leases"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "lease_key"
  attribute {
    name = "lease_key"
    type = "S"
  }
  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.floe.arn
  }
  deletion_protection_enabled = true
  tags                        = local.tags
}

resource "aws_cloudwatch_log_group" "floe" {
  name              = "/ecs/${var.name}-floe"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.floe.arn
  tags              = local.tags
}
