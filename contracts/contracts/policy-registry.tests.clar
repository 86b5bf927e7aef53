;; Rendezvous invariants for policy-registry (contracts/README.md "Fuzzing"): rendezvous appends this file to the
;; registry's source and deploys the result as `.policy-registry`, so the vault serves it as its registry. The
;; fuzzer calls the registry's public functions and the `fz-` actions below from the simnet accounts (the
;; deployer is the admin and the first backend), mines burn blocks between sequences, then checks one invariant.
;;
;; `fz-create` opens a policy through the registry's own `check-terms` and `open-policy` (everything
;; `create-policy-entry` does except the quote signature, which no fuzzer can produce; vitest covers it).
;; `fz-settle` and `fz-expire` call the real `update-policy-status` as the calling account.

(define-constant FZ-TIERS (list "Conservative" "Balanced" "Aggressive"))
(define-constant FZ-PPM u1000000)
;; Policy ids the invariants look at (the first 100 are plenty for a campaign's policies).
(define-constant FZ-IDS (list
  u1 u2 u3 u4 u5 u6 u7 u8 u9 u10 u11 u12 u13 u14 u15 u16 u17 u18 u19 u20 u21 u22 u23 u24 u25 u26 u27 u28 u29 u30
  u31 u32 u33 u34 u35 u36 u37 u38 u39 u40 u41 u42 u43 u44 u45 u46 u47 u48 u49 u50 u51 u52 u53 u54 u55 u56 u57 u58
  u59 u60 u61 u62 u63 u64 u65 u66 u67 u68 u69 u70 u71 u72 u73 u74 u75 u76 u77 u78 u79 u80 u81 u82 u83 u84 u85 u86
  u87 u88 u89 u90 u91 u92 u93 u94 u95 u96 u97 u98 u99 u100
))

;; Successful status changes per policy, seen by the `fz-` actions.
(define-map fz-transitions
  uint
  uint
)
(define-data-var fz-quote-seq uint u0)

(define-private (fz-tier (index uint))
  (unwrap-panic (element-at? FZ-TIERS (mod index u3)))
)

(define-private (fz-amount (seed uint))
  (+ u1 (mod (/ seed u14) (pow u10 (mod seed u14))))
)

(define-private (fz-share
    (whole uint)
    (seed uint)
  )
  (if (is-eq (mod seed u3) u0)
    whole
    (/ (* whole (+ (mod seed FZ-PPM) u1)) FZ-PPM)
  )
)

;; A policy id: the newest for one index in two (most likely still open), else any.
(define-private (fz-pick (index uint))
  (let ((count (- (var-get policy-counter) u1)))
    (if (and (> count u0) (is-eq (mod index u2) u0))
      count
      (+ u1 (mod (/ index u2) (if (> count u0)
        count
        u1
      )))
    )
  )
)

;; The registry contract provides capital: the caller's STX go to it, and it deposits them in the vault.
(define-public (fz-fund
    (tier-index uint)
    (amount uint)
  )
  (let (
      (tier (fz-tier tier-index))
      (gift (fz-amount amount))
    )
    (try! (stx-transfer? gift tx-sender current-contract))
    (match (as-contract? ((with-stx gift))
      (unwrap! (contract-call? .liquidity-pool-vault deposit tier gift) (err u9002))
    )
      minted (ok minted)
      failed (err failed)
    )
  )
)

;; A policy on a share of the tier's free capital, a premium of a share of its collateral, expiring within 16
;; burn blocks (half of them) or up to 10,000 blocks out; the caller is the buyer.
(define-public (fz-create
    (tier-index uint)
    (collateral-ppm uint)
    (premium-ppm uint)
    (duration uint)
  )
  (let (
      (tier (fz-tier tier-index))
      (totals (unwrap-panic (contract-call? .liquidity-pool-vault get-tier tier)))
      (collateral (fz-share (get free-ustx totals) collateral-ppm))
      (premium (if (> collateral u0)
        (+ u1 (fz-share (- collateral u1) premium-ppm))
        u1
      ))
      (seq (+ (var-get fz-quote-seq) u1))
      (quote-id (unwrap-panic (as-max-len? (unwrap-panic (slice? (unwrap-panic (to-consensus-buff? seq)) u1 u17)) u16)))
      (expiration (+ burn-block-height u1 (mod duration (if (is-eq (mod duration u2) u0)
        u16
        u10000
      ))))
    )
    (try! (check-terms quote-id u6000000000000 u10000000 expiration "PUT" premium collateral tier))
    (var-set fz-quote-seq seq)
    (open-policy tx-sender quote-id u6000000000000 u10000000 expiration "PUT" premium collateral tier)
  )
)

(define-private (fz-note-transition (id uint))
  (map-set fz-transitions id (+ u1 (default-to u0 (map-get? fz-transitions id))))
)

;; Settles a policy for a share of its collateral at half its strike, as the calling account.
(define-public (fz-settle
    (index uint)
    (amount-ppm uint)
  )
  (let (
      (id (fz-pick index))
      (policy (unwrap! (map-get? policies { policy-id: id }) ERR-POLICY-NOT-FOUND))
      (amount (+ u1 (fz-share (- (get collateral-ustx policy) u1) amount-ppm)))
    )
    (try! (update-policy-status id STATUS-SETTLED amount u3000000000000))
    (fz-note-transition id)
    (ok id)
  )
)

(define-public (fz-expire (index uint))
  (let ((id (fz-pick index)))
    (try! (update-policy-status id STATUS-EXPIRED u0 u0))
    (fz-note-transition id)
    (ok id)
  )
)

;; ---------------------------------------------------------------------------------------------------------
;; invariants

(define-private (fz-policy-sound
    (id uint)
    (ok-so-far bool)
  )
  (match (map-get? policies { policy-id: id })
    policy (let (
        (lock (contract-call? .liquidity-pool-vault get-policy-lock id))
        (status (get status policy))
      )
      (and
        ok-so-far
        (<= (get premium-ustx policy) (get collateral-ustx policy))
        (<= (get settlement-ustx policy) (get collateral-ustx policy))
        (<= (get created-height policy) (get status-height policy))
        (<= (default-to u0 (map-get? fz-transitions id)) u1)
        (if (is-eq status STATUS-ACTIVE)
          ;; open: the vault holds its whole collateral and its premium
          (and
            (is-eq (get settlement-ustx policy) u0)
            (is-eq lock
              (some {
                tier: (get risk-tier policy),
                amount-ustx: (get collateral-ustx policy),
                premium-ustx: (get premium-ustx policy),
              })
            )
          )
          ;; closed once, Active -> Settled (paying something) or Active -> Expired (paying nothing)
          (and
            (is-none lock)
            (or
              (and (is-eq status STATUS-SETTLED) (> (get settlement-ustx policy) u0))
              (and (is-eq status STATUS-EXPIRED) (is-eq (get settlement-ustx policy) u0))
            )
          )
        )
      )
    )
    ok-so-far
  )
)

;; Every policy: premium and settlement within its collateral; open ones fully locked in the vault; closed ones
;; released, closed once, in a final status that matches what was paid.
(define-read-only (invariant-policies-consistent-with-the-vault)
  (fold fz-policy-sound FZ-IDS true)
)

(define-private (fz-tier-sound
    (tier (string-ascii 12))
    (ok-so-far bool)
  )
  (let ((totals (unwrap-panic (contract-call? .liquidity-pool-vault get-tier tier))))
    (and ok-so-far (<= (get locked-ustx totals) (get capital-ustx totals)))
  )
)

;; Per tier locked <= capital, and the vault's balance is its tiers' money (no direct transfers here).
(define-read-only (invariant-vault-balance-is-its-tiers)
  (and
    (fold fz-tier-sound FZ-TIERS true)
    (is-eq (contract-call? .liquidity-pool-vault get-surplus) u0)
  )
)

;; The backend is always a standard principal (never a contract that could not send status updates).
(define-read-only (invariant-backend-is-a-standard-principal)
  (match (principal-destruct? (var-get backend-principal))
    parts (is-none (get name parts))
    wrong false
  )
)

;; An admin transfer only completes through `accept-admin` by the proposed principal: the admin is the deployer
;; or someone who accepted.
(define-read-only (invariant-admin-changes-only-by-acceptance)
  (or
    (is-eq (var-get contract-admin) 'STH2F0YQ4EY0F9KAK9DWTNHZMKVHVF71AQC25Y32)
    (> (default-to u0 (get called (map-get? context "accept-admin"))) u0)
  )
)
