output "stream_name" {
  description = "Kinesis stream floe drains."
  value       = aws_kinesis_stream.events.name
}

output "stream_arn" {
  description = "ARN of the stream (grant producers kinesis:PutRecord(s) on it)."
  value       = aws_kinesis_stream.events.arn
}

output "bronze_bucket" {
  description = "Bucket of the raw bronze objects."
  value       = module.bronze_bucket.bucket
}

output "warehouse_bucket" {
  description = "Bucket of the Iceberg tables."
  value       = module.warehouse_bucket.bucket
}

output "glue_database" {
  description = "Glue database holding the Iceberg tables."
  value       = aws_glue_catalog_database.floe.name
}

output "table_names" {
  description = "Tables floe creates in the Glue database (query them from Athena as <glue_database>.<table>)."
  value       = ["events", "events_bad"]
}

output "lease_table" {
  description = "DynamoDB table of shard leases and checkpoints."
  value       = aws_dynamodb_table.leases.name
}

output "kms_key_arn" {
  description = "KMS key encrypting the stream, buckets, lease table and logs."
  value       = aws_kms_key.floe.arn
}

output "ecs_cluster" {
  description = "ECS cluster running the floe service."
  value       = aws_ecs_cluster.floe.name
}

output "ecs_service" {
  description = "ECS service of the floe workers."
  value       = aws_ecs_service.floe.name
}

output "log_group" {
  description = "CloudWatch log group of the workers (JSON logs)."
  value       = aws_cloudwatch_log_group.floe.name
}
