# The floe workers: a Fargate service in private subnets. Workers share the stream's shards
# through DynamoDB leases, so the service scales horizontally; stopTimeout leaves floe time to
# flush bronze, checkpoint and release its leases after SIGTERM.

resource "aws_ecs_cluster" "floe" {
  name = "${var.name}-floe"
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
  tags = local.tags
}

resource "aws_security_group" "floe" {
  name        = "${var.name}-floe"
  description = "floe workers: no inbound; HTTPS out to AWS APIs"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.floe.id
  description       = "HTTPS to AWS service endpoints (Kinesis, S3, Glue, DynamoDB, KMS, Logs, ECR)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

locals {
  # the dedup state's runs past its memory budget: a bind mount on the task's ephemeral storage
  # (the root filesystem is read-only); the image creates the path owned by the runtime user
  dedup_spill_dir = "/var/lib/floe/dedup"
  environment = merge({
    FLOE_SOURCE_TYPE             = "kinesis"
    FLOE_SOURCE_STREAM           = aws_kinesis_stream.events.name
    FLOE_SOURCE_CONSUMER         = var.consumer
    FLOE_BRONZE_LOCATION         = "s3://${module.bronze_bucket.bucket}/bronze"
    FLOE_CATALOG_TYPE            = "glue"
    FLOE_CATALOG_NAMESPACE       = aws_glue_catalog_database.floe.name
    FLOE_CATALOG_WAREHOUSE       = "s3://${module.warehouse_bucket.bucket}/warehouse"
    FLOE_CHECKPOINT_TYPE         = "dynamodb"
    FLOE_CHECKPOINT_TABLE        = aws_dynamodb_table.leases.name
    FLOE_SHUTDOWN_DRAIN_DEADLINE = "${var.drain_seconds}s"
    FLOE_METRICS_PORT            = tostring(var.metrics_port)
    FLOE_SILVER_DEDUP_SPILL_DIR  = local.dedup_spill_dir
    AWS_REGION                   = local.region
  }, var.extra_environment)
}

resource "aws_ecs_task_definition" "floe" {
  family                   = "${var.name}-floe"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  ephemeral_storage {
    size_in_gib = var.ephemeral_storage_gib
  }
  volume {
    name = "dedup-spill"
  }
  container_definitions = jsonencode([{
    name                   = "floe"
    image                  = var.image
    essential              = true
    command                = ["run", "--log-format", "json"]
    readonlyRootFilesystem = true
    user                   = "65532:65532"
    stopTimeout            = var.drain_seconds + 5
    environment            = [for k in sort(keys(local.environment)) : { name = k, value = local.environment[k] }]
    portMappings           = [{ containerPort = var.metrics_port, protocol = "tcp" }]
    mountPoints            = [{ sourceVolume = "dedup-spill", containerPath = local.dedup_spill_dir, readOnly = false }]
    healthCheck = {
      command     = ["CMD", "/usr/local/bin/floe", "healthcheck"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 30
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.floe.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "floe"
      }
    }
  }])
  tags = local.tags
}

resource "aws_ecs_service" "floe" {
  name                               = "${var.name}-floe"
  cluster                            = aws_ecs_cluster.floe.id
  task_definition                    = aws_ecs_task_definition.floe.arn
  desired_count                      = var.desired_count
  launch_type                        = "FARGATE"
  deployment_minimum_healthy_percent = 50
  deployment_maximum_percent         = 200
  propagate_tags                     = "SERVICE"
  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.floe.id]
    assign_public_ip = false
  }
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  lifecycle {
    # autoscaling owns the count after creation
    ignore_changes = [desired_count]
  }
  tags = local.tags
}

# Scale on how far behind the stream the workers are: Kinesis's own maximum iterator age is the
# AWS-side view of floe's millis_behind_latest.
resource "aws_appautoscaling_target" "floe" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.floe.name}/${aws_ecs_service.floe.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.min_count
  max_capacity       = var.max_count
}

resource "aws_appautoscaling_policy" "lag" {
  name               = "${var.name}-floe-lag"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.floe.service_namespace
  resource_id        = aws_appautoscaling_target.floe.resource_id
  scalable_dimension = aws_appautoscaling_target.floe.scalable_dimension
  target_tracking_scaling_policy_configuration {
    target_value       = var.target_lag_ms
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    customized_metric_specification {
      namespace = "AWS/Kinesis"
      # Polling: the stream's iterator age. Enhanced fan-out publishes no GetRecords metrics;
      # its lag is the consumer's SubscribeToShardEvent.MillisBehindLatest (floe's consumer is
      # named "floe" unless FLOE_SOURCE_CONSUMER_NAME says otherwise).
      metric_name = var.consumer == "efo" ? "SubscribeToShardEvent.MillisBehindLatest" : "GetRecords.IteratorAgeMilliseconds"
      statistic   = "Maximum"
      dimensions {
        name  = "StreamName"
        value = aws_kinesis_stream.events.name
      }
      dynamic "dimensions" {
        for_each = var.consumer == "efo" ? [lookup(var.extra_environment, "FLOE_SOURCE_CONSUMER_NAME", "floe")] : []
        content {
          name  = "ConsumerName"
          value = dimensions.value
        }
      }
    }
  }
}
