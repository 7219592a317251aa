# Two buckets: bronze (the raw, replayable log) and warehouse (Iceberg data and metadata).
# Both: SSE-KMS with a bucket key, versioning, all public access blocked, TLS-only.

locals {
  buckets = {
    bronze    = "${var.name}-floe-bronze-${local.account}"
    warehouse = "${var.name}-floe-warehouse-${local.account}"
  }
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Access logging needs a separate log bucket the deployment owns; CloudTrail data events cover audit.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice left to the deployment; bronze can be replayed from Kinesis within its retention.
  #checkov:skip=CKV2_AWS_62:floe lists bronze objects itself; no consumer needs S3 event notifications.
  for_each = local.buckets
  bucket   = each.value
  tags     = merge(local.tags, { "floe:bucket" = each.key })
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = aws_s3_bucket.this
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.floe.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_policy" "tls_only" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  policy   = data.aws_iam_policy_document.tls_only[each.key].json
}

data "aws_iam_policy_document" "tls_only" {
  for_each = aws_s3_bucket.this
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "bronze" {
  bucket = aws_s3_bucket.this["bronze"].id
  rule {
    id     = "bronze-tiering"
    status = "Enabled"
    filter {}
    transition {
      days          = var.bronze_transition_days
      storage_class = "STANDARD_IA"
    }
    transition {
      days          = var.bronze_glacier_days
      storage_class = "GLACIER_IR"
    }
    dynamic "expiration" {
      for_each = var.bronze_expiration_days > 0 ? [var.bronze_expiration_days] : []
      content {
        days = expiration.value
      }
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "warehouse" {
  bucket = aws_s3_bucket.this["warehouse"].id
  rule {
    id     = "warehouse-housekeeping"
    status = "Enabled"
    filter {}
    # Iceberg owns live files; only superseded versions and failed uploads are cleaned here.
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}
