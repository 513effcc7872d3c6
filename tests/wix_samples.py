"""Wix's own example payloads (wix-facts.md §3), as the inner `data` of a webhook envelope."""

from __future__ import annotations

import copy
from typing import Any

CONTACT_ID = "24de6f0b-60ce-4faa-9138-2e39f1415615"
ORDER_ID = "880fa895-dfd5-4d50-a2d4-971b03fd4b86"
OUR_APP_ID = "11111111-2222-3333-4444-555555555555"

_ORDER: dict[str, Any] = {
    "id": ORDER_ID,
    "number": "10002",
    "status": "APPROVED",
    "paymentStatus": "PAID",
    "fulfillmentStatus": "NOT_FULFILLED",
    "currency": "USD",
    "buyerInfo": {
        "contactId": CONTACT_ID,
        "email": "janedoe@gmail.com",
        "visitorId": "4c7ce95c-9fb3-417d-9f02-b41e82b841f7",
    },
    "priceSummary": {
        "subtotal": {"amount": "10.00", "formattedAmount": "$10.00"},
        "total": {"amount": "10.00", "formattedAmount": "$10.00"},
    },
    "appliedDiscounts": [
        {
            "discountType": "SPECIFIC_ITEMS",
            "coupon": {
                "id": "fbb94b06",
                "code": "SUMMERSALE10",
                "name": "SUMMERSALE10",
                "amount": {"amount": "10.0"},
            },
        }
    ],
    "checkoutId": "6f1204d5-3923-4709-869e-51680a1b5530",
    "createdDate": "2022-12-21T13:30:36.798Z",
    "updatedDate": "2022-12-21T13:37:43.380Z",
    "lineItems": [
        {
            "id": "00000000-0000-0000-0000-000000000001",
            "productName": {"original": "Shirt"},
            "quantity": 1,
            "price": {"amount": "10.00"},
        }
    ],
}


def payment_status_updated(
    event_id: str = "03756f6a-62c6-4f85-8356-b171adb7e4f3", payment_status: str = "PAID"
) -> dict[str, Any]:
    order = copy.deepcopy(_ORDER)
    order["paymentStatus"] = payment_status
    return {
        "id": event_id,
        "entityFqdn": "wix.ecom.v1.order",
        "slug": "payment_status_updated",
        "entityId": ORDER_ID,
        "eventTime": "2022-12-21T13:37:43.471496Z",
        "actionEvent": {"body": {"order": order, "previousPaymentStatus": "NOT_PAID"}},
        "triggeredByAnonymizeRequest": False,
    }


def order_approved(event_id: str = "5a1d0f3e-0000-4000-8000-000000000001") -> dict[str, Any]:
    payload = payment_status_updated(event_id)
    payload["slug"] = "approved"
    payload["actionEvent"] = {"body": {"order": copy.deepcopy(_ORDER)}}
    return payload


def order_canceled(event_id: str = "5a1d0f3e-0000-4000-8000-000000000002") -> dict[str, Any]:
    payload = order_approved(event_id)
    payload["slug"] = "canceled"
    return payload


def fulfillments_updated(event_id: str = "6e03a96a-3870-4ad7-b814-1f8119310bf4") -> dict[str, Any]:
    return {
        "id": event_id,
        "entityFqdn": "wix.ecom.v1.fulfillments",
        "slug": "updated",
        "entityId": "1241d17c-82e1-4a6d-9fae-bd6d2a8073e5",
        "updatedEvent": {
            "currentEntity": {
                "orderId": "1241d17c-82e1-4a6d-9fae-bd6d2a8073e5",
                "fulfillments": [
                    {
                        "id": "e110b73a",
                        "createdDate": "2023-01-25T13:45:20.753Z",
                        "lineItems": [{"id": "00000000-0000-0000-0000-000000000001", "quantity": 1}],
                        "trackingInfo": {"trackingNumber": "12345", "shippingProvider": "ups"},
                    }
                ],
            }
        },
        "eventTime": "2023-01-25T13:45:21.129908Z",
        "triggeredByAnonymizeRequest": False,
    }


def checkout_completed(event_id: str = "1ca9c89a-7d88-4613-808a-6d7878e06450") -> dict[str, Any]:
    return {
        "id": event_id,
        "entityFqdn": "wix.ecom.v1.checkout",
        "slug": "completed",
        "entityId": "ddbeb7fc-fab7-4ab8-9ce2-f87a8f5f4327",
        "actionEvent": {
            "body": {
                "checkout": {
                    "id": "ddbeb7fc-fab7-4ab8-9ce2-f87a8f5f4327",
                    "completed": True,
                    "cartId": "5f000867",
                    "currency": "USD",
                    "buyerInfo": {
                        "contactId": CONTACT_ID,
                        "email": "janedoe@gmail.com",
                        "visitorId": "4c7ce95c",
                    },
                    "priceSummary": {
                        "total": {"amount": "50", "convertedAmount": "50", "formattedAmount": "$50.00"}
                    },
                    "appliedDiscounts": [
                        {"discountType": "GLOBAL", "coupon": {"code": "SUMMERSALE10", "id": "fbb94b06"}}
                    ],
                    "createdDate": "2022-12-12T13:36:40.690Z",
                    "updatedDate": "2022-12-12T13:43:15.132Z",
                }
            }
        },
    }


def account_points_updated(
    event_id: str = "48b171b8-e2c1-46da-92ff-5ce4b173c751",
    app_id: str = "553c79f3-5625-4f38-b14b-ef7c0d1e87df",
) -> dict[str, Any]:
    return {
        "id": event_id,
        "entityFqdn": "wix.loyalty.v1.account",
        "slug": "points_updated",
        "entityId": "2bdbac7d-b121-4191-84bf-a359b20bc8c6",
        "actionEvent": {
            "body": {
                "account": {
                    "id": "fe0ca230-61a6-4ebf-9199-9c0d238619aa",
                    "contactId": "87bbd811-0000-4000-8000-000000000000",
                    "memberId": "87bbd811-0000-4000-8000-000000000000",
                    "points": {"balance": 1, "earned": 0, "adjusted": 1, "redeemed": 0},
                    "rewardAvailable": False,
                    "revision": "3",
                    "latestTransaction": {
                        "id": "7af9dffd",
                        "amount": -1,
                        "type": "ADJUST",
                        "description": "",
                        "appId": app_id,
                        "createdDate": "2021-12-29T14:06:50.091Z",
                    },
                    "createdDate": "2021-12-29T13:55:32.505Z",
                    "updatedDate": "2021-12-29T14:06:50.092Z",
                }
            }
        },
        "eventTime": "2021-12-29T14:06:50.106622Z",
        "triggeredByAnonymizeRequest": False,
    }


def program_updated(
    event_id: str = "d136825c-0000-4000-8000-000000000000", status: str = "ACTIVE"
) -> dict[str, Any]:
    return {
        "id": event_id,
        "entityFqdn": "wix.loyalty.v1.program",
        "slug": "updated",
        "entityId": "settings",
        "updatedEvent": {
            "currentEntity": {
                "name": "Loyalty program",
                "status": status,
                "pointDefinition": {"customName": "Northern Star", "icon": {"url": "shapes/cb52.svg"}},
                "createdDate": "2022-05-22T08:18:32.186Z",
                "updatedDate": "2022-06-07T08:40:47.426Z",
            }
        },
        "eventTime": "2022-06-07T08:40:47.426Z",
        "triggeredByAnonymizeRequest": False,
    }


def app_installed() -> dict[str, Any]:
    return {"appId": OUR_APP_ID, "originInstanceId": ""}


# (envelope eventType, payload factory) for every type the worker handles.
HANDLED = {
    "wix.ecom.v1.order_approved": order_approved,
    "wix.ecom.v1.order_payment_status_updated": payment_status_updated,
    "wix.ecom.v1.order_canceled": order_canceled,
    "wix.ecom.v1.fulfillments_updated": fulfillments_updated,
    "wix.ecom.v1.checkout_completed": checkout_completed,
    "wix.loyalty.v1.account_points_updated": account_points_updated,
    "wix.loyalty.v1.program_updated": program_updated,
    "AppInstalled": app_installed,
    "AppRemoved": app_installed,
}
