# A complete deployment of floe into an existing VPC.
#   terraform init && terraform apply -var vpc_id=vpc-… -var 'private_subnet_ids=["subnet-…","subnet-…"]' -var image=…

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-1"
}

variable "vpc_id" {
  description = "VPC for the workers."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets for the workers."
  type        = list(string)
}

variable "image" {
  description = "floe image in ECR."
  type        = string
}

module "floe" {
  source             = "../.."
  name               = "analytics"
  vpc_id             = var.vpc_id
  private_subnet_ids = var.private_subnet_ids
  image              = var.image
  stream_mode        = "ON_DEMAND"
  desired_count      = 2
  max_count          = 6
  tags               = { team = "data-platform" }
}

output "stream_name" {
  description = "Send events here."
  value       = module.floe.stream_name
}

output "glue_database" {
  description = "Query the tables from Athena in this database."
  value       = module.floe.glue_database
}

output "buckets" {
  description = "Bronze and warehouse buckets."
  value       = { bronze = module.floe.bronze_bucket, warehouse = module.floe.warehouse_bucket }
}
