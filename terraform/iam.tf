# Two roles: the execution role (ECS pulls the image and writes logs) and the task role (what
# floe itself may do), each scoped to exactly the resources of this module.

data "aws_iam_policy_document" "ecs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-floe-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
  tags               = local.tags
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-floe-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid = "PullImage"
    # ecr:GetAuthorizationToken cannot be scoped to a resource (AWS requires "*").
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid       = "PullImageLayers"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = ["arn:${local.partition}:ecr:${local.region}:${local.account}:repository/*"]
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.floe.arn}:*"]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "floe-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

data "aws_iam_policy_document" "task" {
  statement {
    sid = "ReadStream"
    actions = [
      "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary",
      "kinesis:ListShards",
      "kinesis:GetShardIterator",
      "kinesis:GetRecords",
      "kinesis:ListStreamConsumers",
      "kinesis:RegisterStreamConsumer",
    ]
    resources = [aws_kinesis_stream.events.arn]
  }
  statement {
    sid       = "EnhancedFanOut"
    actions   = ["kinesis:DescribeStreamConsumer", "kinesis:SubscribeToShard"]
    resources = ["${aws_kinesis_stream.events.arn}/consumer/*"]
  }
  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = local.bucket_arns
  }
  statement {
    sid       = "ReadWriteObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [for arn in local.bucket_arns : "${arn}/*"]
  }
  statement {
    sid = "GlueTables"
    actions = [
      "glue:GetDatabase",
      "glue:GetTable",
      "glue:GetTables",
      "glue:CreateTable",
      "glue:UpdateTable",
      "glue:GetTableVersion",
      "glue:GetTableVersions",
    ]
    resources = [
      "arn:${local.partition}:glue:${local.region}:${local.account}:catalog",
      aws_glue_catalog_database.floe.arn,
      "arn:${local.partition}:glue:${local.region}:${local.account}:table/${aws_glue_catalog_database.floe.name}/*",
    ]
  }
  statement {
    sid = "Leases"
    actions = [
      # exactly what checkpoint/dynamodb.rs calls (DescribeTable: `floe init`)
      "dynamodb:DescribeTable",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:Scan",
    ]
    resources = [aws_dynamodb_table.leases.arn]
  }
  statement {
    sid       = "UseKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.floe.arn]
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "floe-task"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}
