;; policy-registry
;;
;; The on-chain ledger of BitHedge protection policies (PUT options on BTC, paid in STX). It stores each
;; policy's immutable terms and its final status; everything else lives off chain.
;;
;; - `create-policy-entry` is signed by the buyer and carries a quote signed by the backend's quote key, so a
;;   policy can only be created on terms the backend priced. In one transaction it locks the collateral in the
;;   vault tier, moves the premium from the buyer into the vault and records the policy.
;; - `update-policy-status` is sent by the backend principal: u0 Active -> u1 Settled (pays the owner out of
;;   the policy's own collateral, at or before expiration) or u0 Active -> u2 Expired (after expiration).
;; All heights (expiration, quote expiry, created-height, status heights) are Bitcoin burn heights.
;;
;; Authorization is on `contract-caller`, never `tx-sender`: a contract that the admin or the backend is lured
;; into calling cannot act with their authority. The admin changes in two steps (propose, then accept by the
;; proposed principal). The buyer is `tx-sender` on purpose: the premium leaves the buyer's own account (only the
;; transaction's sender can send STX), the quote signature binds that owner, and nothing is authorized by it.

(define-constant VAULT .liquidity-pool-vault)

(define-constant ERR-NOT-AUTHORIZED (err u100))
(define-constant ERR-POLICY-NOT-FOUND (err u101))
(define-constant ERR-INVALID-PARAMETERS (err u102))
(define-constant ERR-INVALID-STATUS-TRANSITION (err u103))
(define-constant ERR-POLICY-NOT-EXPIRED (err u104))
(define-constant ERR-POLICY-EXPIRED (err u105))
(define-constant ERR-QUOTE-EXPIRED (err u106))
(define-constant ERR-QUOTE-ALREADY-USED (err u107))
(define-constant ERR-BAD-QUOTE-SIGNATURE (err u108))
(define-constant ERR-SETTLEMENT-EXCEEDS-COLLATERAL (err u109))
(define-constant ERR-PREMIUM-EXCEEDS-COLLATERAL (err u110))

(define-constant STATUS-ACTIVE u0)
(define-constant STATUS-SETTLED u1)
(define-constant STATUS-EXPIRED u2)

;; No key can sign for this placeholder: creation is impossible until the admin sets the real quote key.
(define-constant UNSET-QUOTE-SIGNER 0x000000000000000000000000000000000000000000000000000000000000000000)

(define-data-var contract-admin principal tx-sender)
;; The principal the admin proposed as its successor, until it accepts (or the admin proposes another).
(define-data-var proposed-admin (optional principal) none)
(define-data-var backend-principal principal tx-sender)
(define-data-var quote-signer (buff 33) UNSET-QUOTE-SIGNER)
;; The id the next policy gets; the first policy is u1.
(define-data-var policy-counter uint u1)

(define-map policies
  { policy-id: uint }
  {
    owner: principal,
    counterparty: principal,
    protected-value-usd8: uint,
    protected-amount-sats: uint,
    expiration-height: uint,
    policy-type: (string-ascii 4),
    premium-ustx: uint,
    collateral-ustx: uint,
    risk-tier: (string-ascii 12),
    status: uint,
    created-height: uint,
    quote-id: (buff 16),
    settlement-ustx: uint,
    settlement-price-usd8: uint,
    status-height: uint,
  }
)

(define-map used-quotes
  { quote-id: (buff 16) }
  bool
)

;; ---------------------------------------------------------------------------------------------------------
;; quote signature

(define-private (is-known-tier (tier (string-ascii 12)))
  (or (is-eq tier "Conservative") (is-eq tier "Balanced") (is-eq tier "Aggressive"))
)

;; sha256 of the SIP-005 serialization of the quote tuple; see README "Quote signature".
(define-read-only (get-quote-hash
    (quote-id (buff 16))
    (owner principal)
    (protected-value-usd8 uint)
    (protected-amount-sats uint)
    (expiration-height uint)
    (policy-type (string-ascii 4))
    (premium-ustx uint)
    (collateral-ustx uint)
    (risk-tier (string-ascii 12))
    (quote-expiry-height uint)
  )
  (sha256 (unwrap-panic (to-consensus-buff? {
    registry: current-contract,
    quote-id: quote-id,
    owner: owner,
    protected-value-usd8: protected-value-usd8,
    protected-amount-sats: protected-amount-sats,
    expiration-height: expiration-height,
    policy-type: policy-type,
    premium-ustx: premium-ustx,
    collateral-ustx: collateral-ustx,
    risk-tier: risk-tier,
    quote-expiry-height: quote-expiry-height,
  })))
)

;; ---------------------------------------------------------------------------------------------------------
;; public

;; The terms' own checks (u102, u110), before anything about the quote.
(define-private (check-terms
    (quote-id (buff 16))
    (protected-value-usd8 uint)
    (protected-amount-sats uint)
    (expiration-height uint)
    (policy-type (string-ascii 4))
    (premium-ustx uint)
    (collateral-ustx uint)
    (risk-tier (string-ascii 12))
  )
  (begin
    (asserts! (is-eq policy-type "PUT") ERR-INVALID-PARAMETERS)
    (asserts! (is-eq (len quote-id) u16) ERR-INVALID-PARAMETERS)
    (asserts! (> protected-value-usd8 u0) ERR-INVALID-PARAMETERS)
    (asserts! (> protected-amount-sats u0) ERR-INVALID-PARAMETERS)
    (asserts! (> premium-ustx u0) ERR-INVALID-PARAMETERS)
    (asserts! (> collateral-ustx u0) ERR-INVALID-PARAMETERS)
    (asserts! (is-known-tier risk-tier) ERR-INVALID-PARAMETERS)
    (asserts! (> expiration-height burn-block-height) ERR-INVALID-PARAMETERS)
    ;; A premium above the most the policy can pay out buys nothing, and it would let one policy more than
    ;; double a small tier's share price.
    (asserts! (<= premium-ustx collateral-ustx) ERR-PREMIUM-EXCEEDS-COLLATERAL)
    (ok true)
  )
)

;; Locks the collateral, takes the premium from the buyer (`tx-sender`) and records the policy: the effects of a
;; creation whose terms and quote were checked.
(define-private (open-policy
    (owner principal)
    (quote-id (buff 16))
    (protected-value-usd8 uint)
    (protected-amount-sats uint)
    (expiration-height uint)
    (policy-type (string-ascii 4))
    (premium-ustx uint)
    (collateral-ustx uint)
    (risk-tier (string-ascii 12))
  )
  (let ((policy-id (var-get policy-counter)))
    ;; Collateral must come out of free capital (pending premiums, this one included, never count).
    (try! (contract-call? .liquidity-pool-vault lock-collateral policy-id risk-tier
      collateral-ustx
    ))
    (try! (contract-call? .liquidity-pool-vault receive-premium policy-id risk-tier
      premium-ustx
    ))
    (map-insert used-quotes { quote-id: quote-id } true)
    (map-insert policies { policy-id: policy-id } {
      owner: owner,
      counterparty: VAULT,
      protected-value-usd8: protected-value-usd8,
      protected-amount-sats: protected-amount-sats,
      expiration-height: expiration-height,
      policy-type: policy-type,
      premium-ustx: premium-ustx,
      collateral-ustx: collateral-ustx,
      risk-tier: risk-tier,
      status: STATUS-ACTIVE,
      created-height: burn-block-height,
      quote-id: quote-id,
      settlement-ustx: u0,
      settlement-price-usd8: u0,
      status-height: burn-block-height,
    })
    (var-set policy-counter (+ policy-id u1))
    (print {
      event: "policy-created",
      policy-id: policy-id,
      owner: owner,
      counterparty: VAULT,
      protected-value-usd8: protected-value-usd8,
      protected-amount-sats: protected-amount-sats,
      expiration-height: expiration-height,
      policy-type: policy-type,
      premium-ustx: premium-ustx,
      collateral-ustx: collateral-ustx,
      risk-tier: risk-tier,
      quote-id: quote-id,
    })
    (ok policy-id)
  )
)

(define-public (create-policy-entry
    (quote-id (buff 16))
    (protected-value-usd8 uint)
    (protected-amount-sats uint)
    (expiration-height uint)
    (policy-type (string-ascii 4))
    (premium-ustx uint)
    (collateral-ustx uint)
    (risk-tier (string-ascii 12))
    (quote-expiry-height uint)
    (quote-signature (buff 65))
  )
  (let (
      (owner tx-sender)
      (quote-hash (get-quote-hash quote-id owner protected-value-usd8 protected-amount-sats
        expiration-height policy-type premium-ustx collateral-ustx risk-tier
        quote-expiry-height
      ))
    )
    (try! (check-terms quote-id protected-value-usd8 protected-amount-sats expiration-height
      policy-type premium-ustx collateral-ustx risk-tier
    ))
    (asserts! (<= burn-block-height quote-expiry-height) ERR-QUOTE-EXPIRED)
    (asserts! (is-none (map-get? used-quotes { quote-id: quote-id }))
      ERR-QUOTE-ALREADY-USED
    )
    ;; A (buff 65) argument also admits shorter buffers; the quote format is exactly r || s || v.
    (asserts! (is-eq (len quote-signature) u65) ERR-BAD-QUOTE-SIGNATURE)
    (asserts! (secp256k1-verify quote-hash quote-signature (var-get quote-signer))
      ERR-BAD-QUOTE-SIGNATURE
    )
    (open-policy owner quote-id protected-value-usd8 protected-amount-sats expiration-height
      policy-type premium-ustx collateral-ustx risk-tier
    )
  )
)

(define-public (update-policy-status
    (policy-id uint)
    (new-status uint)
    (settlement-ustx uint)
    (settlement-price-usd8 uint)
  )
  ;; The caller check is the first binding so that outsiders learn nothing about policy ids.
  (let (
      (authorized (asserts! (is-eq contract-caller (var-get backend-principal)) ERR-NOT-AUTHORIZED))
      (policy (unwrap! (map-get? policies { policy-id: policy-id }) ERR-POLICY-NOT-FOUND))
    )
    (asserts! (is-eq (get status policy) STATUS-ACTIVE)
      ERR-INVALID-STATUS-TRANSITION
    )
    (if (is-eq new-status STATUS-SETTLED)
      (begin
        (asserts! (<= burn-block-height (get expiration-height policy))
          ERR-POLICY-EXPIRED
        )
        (asserts! (<= settlement-ustx (get collateral-ustx policy))
          ERR-SETTLEMENT-EXCEEDS-COLLATERAL
        )
        ;; A settled PUT pays something, at a price below its strike.
        (asserts! (> settlement-ustx u0) ERR-INVALID-PARAMETERS)
        (asserts!
          (and
            (> settlement-price-usd8 u0)
            (< settlement-price-usd8 (get protected-value-usd8 policy))
          )
          ERR-INVALID-PARAMETERS
        )
        (try! (contract-call? .liquidity-pool-vault pay-settlement policy-id settlement-ustx
          (get owner policy)
        ))
        (try! (contract-call? .liquidity-pool-vault release-collateral policy-id))
      )
      (begin
        (asserts! (is-eq new-status STATUS-EXPIRED) ERR-INVALID-STATUS-TRANSITION)
        (asserts! (> burn-block-height (get expiration-height policy))
          ERR-POLICY-NOT-EXPIRED
        )
        (asserts! (is-eq settlement-ustx u0) ERR-INVALID-PARAMETERS)
        (try! (contract-call? .liquidity-pool-vault release-collateral policy-id))
      )
    )
    (map-set policies { policy-id: policy-id }
      (merge policy {
        status: new-status,
        settlement-ustx: settlement-ustx,
        settlement-price-usd8: settlement-price-usd8,
        status-height: burn-block-height,
      })
    )
    (print {
      event: "policy-status-updated",
      policy-id: policy-id,
      previous-status: STATUS-ACTIVE,
      new-status: new-status,
      settlement-ustx: settlement-ustx,
      settlement-price-usd8: settlement-price-usd8,
      block-height: burn-block-height,
    })
    (ok true)
  )
)

;; ---------------------------------------------------------------------------------------------------------
;; admin (every setter: `contract-caller` must be the admin, u100)

;; The backend must be a standard principal of this network: a contract (the registry or the vault above all)
;; can never send `update-policy-status` as the backend, so it would freeze every open policy's collateral.
(define-public (set-backend-principal (new-backend principal))
  (begin
    (asserts! (is-eq contract-caller (var-get contract-admin)) ERR-NOT-AUTHORIZED)
    (asserts!
      (match (principal-destruct? new-backend)
        parts (is-none (get name parts))
        wrong-network false
      )
      ERR-INVALID-PARAMETERS
    )
    (print {
      event: "backend-principal-set",
      previous: (var-get backend-principal),
      backend-principal: new-backend,
    })
    (ok (var-set backend-principal new-backend))
  )
)

(define-public (set-quote-signer (new-signer (buff 33)))
  (begin
    (asserts! (is-eq contract-caller (var-get contract-admin)) ERR-NOT-AUTHORIZED)
    ;; A compressed secp256k1 public key: 33 bytes starting with 0x02 or 0x03.
    (asserts!
      (and
        (is-eq (len new-signer) u33)
        (or
          (is-eq (element-at? new-signer u0) (some 0x02))
          (is-eq (element-at? new-signer u0) (some 0x03))
        )
      )
      ERR-INVALID-PARAMETERS
    )
    (print {
      event: "quote-signer-set",
      previous: (var-get quote-signer),
      quote-signer: new-signer,
    })
    (ok (var-set quote-signer new-signer))
  )
)

;; Step one of an admin transfer: nothing changes until `new-admin` accepts, so a mistyped principal costs
;; nothing (the admin proposes again). A contract may be proposed: it accepts by calling `accept-admin`.
(define-public (propose-admin (new-admin principal))
  (begin
    (asserts! (is-eq contract-caller (var-get contract-admin)) ERR-NOT-AUTHORIZED)
    (print {
      event: "admin-proposed",
      admin: (var-get contract-admin),
      proposed: new-admin,
    })
    (ok (var-set proposed-admin (some new-admin)))
  )
)

;; Step two: the proposed principal takes over.
(define-public (accept-admin)
  (let ((previous (var-get contract-admin)))
    (asserts! (is-eq (some contract-caller) (var-get proposed-admin)) ERR-NOT-AUTHORIZED)
    (var-set contract-admin contract-caller)
    (var-set proposed-admin none)
    (print {
      event: "admin-transferred",
      previous: previous,
      admin: contract-caller,
    })
    (ok true)
  )
)

;; Sends the STX that plain transfers left in the vault (no tier owns them) to `recipient`.
(define-public (recover-vault-surplus (recipient principal))
  (begin
    (asserts! (is-eq contract-caller (var-get contract-admin)) ERR-NOT-AUTHORIZED)
    (contract-call? .liquidity-pool-vault sweep-surplus recipient)
  )
)

;; ---------------------------------------------------------------------------------------------------------
;; read-only

(define-read-only (get-policy (policy-id uint))
  (map-get? policies { policy-id: policy-id })
)

(define-read-only (get-policy-counter)
  (var-get policy-counter)
)

(define-read-only (get-backend-principal)
  (var-get backend-principal)
)

(define-read-only (get-quote-signer)
  (var-get quote-signer)
)

(define-read-only (get-contract-admin)
  (var-get contract-admin)
)

(define-read-only (get-proposed-admin)
  (var-get proposed-admin)
)

(define-read-only (is-quote-used (quote-id (buff 16)))
  (is-some (map-get? used-quotes { quote-id: quote-id }))
)

(define-read-only (get-vault)
  VAULT
)
