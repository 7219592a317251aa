# Two buckets: bronze (the raw, replayable log; tiered to cheaper storage as it ages) and
# warehouse (Iceberg data and metadata; Iceberg decides what is live, so no tiering).

module "bronze_bucket" {
  source      = "./modules/bucket"
  bucket      = "${var.name}-floe-bronze-${local.account}"
  kms_key_arn = aws_kms_key.floe.arn
  transitions = [
    { days = var.bronze_transition_days, storage_class = "STANDARD_IA" },
    { days = var.bronze_glacier_days, storage_class = "GLACIER_IR" },
  ]
  expiration_days = var.bronze_expiration_days
  tags            = merge(local.tags, { "floe:bucket" = "bronze" })
}

module "warehouse_bucket" {
  source      = "./modules/bucket"
  bucket      = "${var.name}-floe-warehouse-${local.account}"
  kms_key_arn = aws_kms_key.floe.arn
  tags        = merge(local.tags, { "floe:bucket" = "warehouse" })
}

locals {
  bucket_arns = [module.bronze_bucket.arn, module.warehouse_bucket.arn]
}
